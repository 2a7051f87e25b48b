-- wrk request script: method, body and headers come from the environment
-- (BENCH_METHOD, BENCH_BODY, BENCH_AUTH, BENCH_CT), so one script serves
-- every scenario.
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then wrk.body = body end
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
local ct = os.getenv("BENCH_CT")
if ct and ct ~= "" then wrk.headers["Content-Type"] = ct end

-- No response() callback: it would make wrk hand every response to Lua and
-- slow the generator down. summary.errors.status counts non-2xx/3xx answers.
function done(summary, latency, requests)
  io.write(string.format("BENCH p50_us=%d p99_us=%d requests=%d errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    latency:percentile(50), latency:percentile(99), summary.requests,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
