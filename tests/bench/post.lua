-- wrk script for tests/bench/run: POST one Alertmanager payload, over and
-- over, as application/json.
--
--   BENCH_BODY=tests/fixtures/am-firing-5.json wrk -t2 -c64 -d10s --latency \
--     -s tests/bench/post.lua http://127.0.0.1:PORT/webhook [-- LIMIT]
--
-- BENCH_BODY names the payload file (default: the 5-alert fixture, relative
-- to the current directory). With LIMIT, each wrk thread stops after LIMIT
-- responses (requests still in flight then are abandoned; the server may
-- still accept them), so a run posts a bounded number of requests.
-- done() prints the figures the run script reads as "BENCH key value" lines
-- after wrk's own report.

local path = os.getenv("BENCH_BODY") or "tests/fixtures/am-firing-5.json"
local file = assert(io.open(path, "rb"), "cannot open " .. path)
local body = file:read("*a")
file:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

-- response() is defined only with LIMIT: when a script has one, wrk parses
-- every response's headers and body for it, which would slow the client.
function init(args)
  local limit = tonumber(args[1] or "")
  if limit then
    local responses = 0
    response = function(status, headers, response_body)
      responses = responses + 1
      if responses >= limit then
        wrk.thread:stop()
      end
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests %d\n", summary.requests))
  io.write(string.format("BENCH duration_us %d\n", summary.duration))
  io.write(string.format("BENCH rps %.1f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("BENCH errors_connect %d\n", e.connect))
  io.write(string.format("BENCH errors_read %d\n", e.read))
  io.write(string.format("BENCH errors_write %d\n", e.write))
  io.write(string.format("BENCH errors_status %d\n", e.status))
  io.write(string.format("BENCH errors_timeout %d\n", e.timeout))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("BENCH latency_p%s_us %d\n", tostring(p), latency:percentile(p)))
  end
  io.write(string.format("BENCH latency_max_us %d\n", latency.max))
end
