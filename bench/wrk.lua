-- wrk request script: method, body and headers come from the environment
-- (BENCH_METHOD, BENCH_BODY, BENCH_AUTH, BENCH_CT), so one script serves
-- every scenario.
--
-- BENCH_BODIES (a file, one request body a line) sends each body once, for
-- requests that must all differ (private_key_jwt: every assertion's jti is
-- used once). Thread i of BENCH_THREADS takes lines i, i + BENCH_THREADS, ...
-- and formats its requests in init(), before the run. A thread that runs out
-- resends its last body (the server refuses it: a failed request) and counts
-- it; done() prints the count, so that bench/run.mjs measures again with a
-- larger file.
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then wrk.body = body end
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
local ct = os.getenv("BENCH_CT")
if ct and ct ~= "" then wrk.headers["Content-Type"] = ct end

local bodies = os.getenv("BENCH_BODIES")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

if bodies and bodies ~= "" then
  local reqs, n, verifying

  function init(args)
    local count = tonumber(os.getenv("BENCH_THREADS") or "1")
    reqs = {}
    local k = 0
    for line in io.lines(bodies) do
      if k % count == id - 1 then reqs[#reqs + 1] = wrk.format(nil, nil, nil, line) end
      k = k + 1
    end
    n = 0
    exhausted = 0
    -- wrk calls request() once on the first thread before the run, to
    -- check the script; that request is never sent (bench/soak.lua).
    verifying = id == 1
  end

  function request()
    if verifying then
      verifying = false
      return reqs[1]
    end
    n = n + 1
    local r = reqs[n]
    if r == nil then
      exhausted = exhausted + 1
      return reqs[#reqs]
    end
    return r
  end
end

-- No response() callback: it would make wrk hand every response to Lua and
-- slow the generator down. summary.errors.status counts non-2xx/3xx answers.
function done(summary, latency, requests)
  io.write(string.format("BENCH p50_us=%d p99_us=%d requests=%d errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    latency:percentile(50), latency:percentile(99), summary.requests,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
  if bodies and bodies ~= "" then
    local exhausted = 0
    for _, t in ipairs(threads) do exhausted = exhausted + (t:get("exhausted") or 0) end
    io.write(string.format("BENCH_BODIES exhausted=%d\n", exhausted))
  end
end
