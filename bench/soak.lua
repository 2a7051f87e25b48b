-- wrk script for `make soak` (bench/soak.mjs): a fixed mix of request kinds
-- against the issuer, with every response classified by the kind of the
-- request it answers.
--
-- Kinds, deterministically interleaved by a per-thread counter, 14:3:3 in
-- every 20 requests (70/15/15):
--   issue  POST /oauth2/token, Basic, the normal client's real secret
--          -> expected 200 with an access_token
--   bad    POST /oauth2/token, Basic, the normal client's id, a wrong secret,
--          from a rotating pool of "attacker" addresses (CF-Connecting-IP)
--          -> expected 401, or 429 once a rate limit bites
--   intro  POST /oauth2/introspect, Basic, the introspect client, a valid
--          pre-minted token -> expected 200 with "active":true
--
-- wrk's response() callback is not told which connection (so which request)
-- it is answering. soak.mjs therefore runs ONE connection per thread
-- (-t N -c N): a connection has one request outstanding at a time, so the
-- kind of the request last sent on this thread is the kind of the response.
--
-- Per-thread results live in the thread's globals; done() runs in the main
-- Lua state, which cannot see them, so setup() keeps every thread and done()
-- reads them with thread:get(). wrk 4.1's thread:get() mishandles tables
-- (nested ones crash it, and each table read unbalances the thread's Lua
-- stack), so every counter is its own numeric global, named "c|kind|status",
-- and the string global `keys` lists their names.
--
-- env (set by soak.mjs): SOAK_ISSUE_AUTH, SOAK_BAD_AUTH, SOAK_INTRO_AUTH
-- (Authorization values), SOAK_TOKEN (token to introspect), SOAK_ATTACKERS
-- (size of the attacker address pool).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

-- ---- per thread ------------------------------------------------------------

local pattern = {}
-- positions (1..20) of the bad and intro requests; the rest are issue
local slots = { [3] = "bad", [6] = "intro", [10] = "bad", [13] = "intro", [17] = "bad", [20] = "intro" }
for i = 1, 20 do pattern[i] = slots[i] or "issue" end

local reqs, bad_reqs, n, bad_n, pending, started, verifying

local function bump(name)
  local v = _G[name]
  if v == nil then
    keys = keys .. " " .. name
    v = 0
  end
  _G[name] = v + 1
end

function init(args)
  keys = "" -- names of the counter and sample globals, space-separated
  local form = "application/x-www-form-urlencoded"
  -- Callers with good credentials come from their own addresses, never
  -- from the attacker pool (an address over its failure limit gets 429
  -- for everything, by design).
  local good = string.format("203.0.113.%d", (id - 1) % 254 + 1)
  reqs = {
    issue = wrk.format("POST", "/oauth2/token", {
      ["Authorization"] = os.getenv("SOAK_ISSUE_AUTH"),
      ["Content-Type"] = form,
      ["CF-Connecting-IP"] = good,
    }, "grant_type=client_credentials"),
    intro = wrk.format("POST", "/oauth2/introspect", {
      ["Authorization"] = os.getenv("SOAK_INTRO_AUTH"),
      ["Content-Type"] = form,
      ["CF-Connecting-IP"] = good,
    }, "token=" .. os.getenv("SOAK_TOKEN")),
  }
  bad_reqs = {}
  local attackers = tonumber(os.getenv("SOAK_ATTACKERS") or "64")
  for a = 1, attackers do
    bad_reqs[a] = wrk.format("POST", "/oauth2/token", {
      ["Authorization"] = os.getenv("SOAK_BAD_AUTH"),
      ["Content-Type"] = form,
      ["CF-Connecting-IP"] = string.format("198.51.%d.%d", 100 + math.floor((a - 1) / 254), (a - 1) % 254 + 1),
    }, "grant_type=client_credentials")
  end
  started = os.time()
  verifying = id == 1
  n = id -- threads start at different points of the pattern
  bad_n = id
end

function request()
  -- wrk calls request() once on the first thread before the run, to check
  -- the script's requests; that call is not sent, so it is not counted.
  if verifying then
    verifying = false
    return reqs.issue
  end
  -- A request still pending here got no response: its connection failed
  -- (wrk counts a socket error and reconnects). Note its kind and when.
  if pending then
    bump("c|lost|" .. pending)
    bump("c|lost_at_s|" .. (os.time() - started))
  end
  n = n + 1
  local kind = pattern[n % 20 + 1]
  pending = kind
  bump("c|sent|" .. kind)
  if kind == "bad" then
    bad_n = bad_n + 1
    return bad_reqs[bad_n % #bad_reqs + 1]
  end
  return reqs[kind]
end

function response(status, headers, body)
  local kind = pending or "none"
  pending = nil
  local key = tostring(status)
  local ok
  if kind == "issue" then
    if status == 200 and not string.find(body, '"access_token"', 1, true) then key = "200-no-token" end
    ok = key == "200"
  elseif kind == "intro" then
    if status == 200 then
      if string.find(body, '"active":true', 1, true) then key = "200-active" else key = "200-inactive" end
    end
    ok = key == "200-active"
  elseif kind == "bad" then
    ok = status == 401 or status == 429
  else
    ok = false
  end
  bump("c|" .. kind .. "|" .. key)
  if not ok and _G["s|" .. kind] == nil then
    _G["s|" .. kind] = key .. " " .. string.sub(body or "", 1, 300)
    keys = keys .. " s|" .. kind
  end
end

-- ---- main state: aggregate ---------------------------------------------------

local function jstr(s)
  return '"' .. (string.gsub(tostring(s), '[%c"\\]', function(ch)
    return string.format("\\u%04x", string.byte(ch))
  end)) .. '"'
end

local function json(v)
  local t = type(v)
  if t == "table" then
    local parts = {}
    for k, x in pairs(v) do
      table.insert(parts, jstr(k) .. ":" .. json(x))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "number" then
    return string.format("%d", v)
  else
    return jstr(v)
  end
end

function done(summary, latency, requests)
  local counts_all, samples_all = {}, {}
  for _, t in ipairs(threads) do
    for name in string.gmatch(t:get("keys") or "", "%S+") do
      local v = t:get(name)
      local kind, key = string.match(name, "^c|([^|]+)|(.+)$")
      if kind then
        counts_all[kind] = counts_all[kind] or {}
        counts_all[kind][key] = (counts_all[kind][key] or 0) + v
      else
        kind = string.match(name, "^s|(.+)$")
        samples_all[kind] = samples_all[kind] or v
      end
    end
  end
  local sent_all = counts_all.sent or {}
  counts_all.sent = nil
  local out = {
    requests = summary.requests,
    duration_us = summary.duration,
    threads = #threads,
    errors = summary.errors,
    p50_us = latency:percentile(50),
    p90_us = latency:percentile(90),
    p99_us = latency:percentile(99),
    max_us = latency.max,
    sent = sent_all,
    counts = counts_all,
    samples = samples_all,
  }
  io.write("SOAK_JSON " .. json(out) .. "\n")
end
