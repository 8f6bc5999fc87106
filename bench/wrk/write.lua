-- wrk script of `deno task bench`: POSTs line-protocol bodies and counts
-- the answers.
--
--   wrk -t2 -c50 -d10s --latency -s bench/wrk/write.lua URL -- \
--     <dir> <mode> <bodies> <points> <path> <gzip> <threads> <ts-prefix>
--
-- mode "static": rotates over the pre-generated files <dir>/body-<i>.lp
--   (<dir>/body-<i>.lp.gz when gzip is "1"), each with <points> lines.
-- mode "unique": builds every body from <dir>/prefixes.lp (lines without a
--   timestamp) and gives each line a timestamp no other line of the run
--   has, so a real InfluxDB stores every acknowledged line as its own point.
--
-- done() prints one line "BENCH_RESULT {json}" that the runner parses:
-- answers counted by status (204 = acknowledged), wrk's error counters,
-- and latency percentiles in microseconds.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local function read_file(name)
  local f = assert(io.open(name, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

function init(args)
  dir = args[1]
  mode = args[2]
  bodies = tonumber(args[3])
  points = tonumber(args[4])
  path = args[5]
  gzip = args[6] == "1"
  nthreads = tonumber(args[7])
  ts_prefix = args[8]
  acked = 0
  other = 0
  local headers = { ["Content-Type"] = "text/plain; charset=utf-8" }
  if gzip then headers["Content-Encoding"] = "gzip" end
  headers_used = headers
  if mode == "static" then
    requests = {}
    local suffix = gzip and ".lp.gz" or ".lp"
    for i = 1, bodies do
      local body = read_file(dir .. "/body-" .. i .. suffix)
      requests[i] = wrk.format("POST", path, headers, body)
    end
    n = 0
  else
    prefixes = {}
    for line in io.lines(dir .. "/prefixes.lp") do
      prefixes[#prefixes + 1] = line
    end
    seq = 0
    parts = {}
  end
end

function request()
  if mode == "static" then
    n = n % bodies + 1
    return requests[n]
  end
  -- Request number seq of thread id owns the timestamps
  -- [(seq * nthreads + id) * points, … + points): distinct across the run.
  local base = (seq * nthreads + id) * points
  seq = seq + 1
  local count = #prefixes
  for i = 0, points - 1 do
    local k = base + i
    parts[i + 1] = prefixes[k % count + 1] .. " " .. ts_prefix ..
      string.format("%010d", k) .. "\n"
  end
  return wrk.format("POST", path, headers_used, table.concat(parts))
end

function response(status, headers, body)
  if status == 204 then
    acked = acked + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local a, o = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("acked")
    o = o + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"acked":%d,"other":%d,"requests":%d,"durationUs":%d,' ..
    '"bytes":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,' ..
    '"statusErrors":%d,"timeouts":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,' ..
    '"maxUs":%d}\n',
    a, o, summary.requests, summary.duration, summary.bytes, e.connect,
    e.read, e.write, e.status, e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max))
end
