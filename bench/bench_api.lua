-- wrk script for bench_api.py: findings pages (random filters and offsets) and finding details.
--   wrk -t2 -c20 -d20s -s bench/bench_api.lua URL -- TOKEN IDS_FILE [mix|list|detail]
-- Prints one JSON line of latency percentiles; non-200 answers are counted as errors.

local ids, mode = {}, "mix"
local types = {"coordination", "laundering", "narrative", "targeting", "phishing", "recruitment"}
local targets = {"Kl%C3%A1ra%20Men%C5%A1%C3%ADkov%C3%A1", "Vojt%C4%9Bch%20%C5%A0im%C3%A1nek",
                 "Radim%20Kovanda", "European%20Parliament"}
local count, threads = 0, {}

function setup(thread)
  thread:set("seed", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  for line in io.lines(args[2]) do ids[#ids + 1] = line end
  mode = args[3] or "mix"
  math.randomseed(seed)
end

local function page()
  local path = "/api/findings?limit=50&offset=" .. (50 * math.random(0, 99))
  if math.random() < 0.5 then path = path .. "&type=" .. types[math.random(#types)] end
  if math.random() < 0.3 then path = path .. "&target=" .. targets[math.random(#targets)] end
  if math.random() < 0.3 then path = path .. "&severity=high" end
  return path
end

function request()
  count = count + 1
  if mode == "detail" or (mode == "mix" and count % 2 == 0) then
    return wrk.format("GET", "/api/findings/" .. ids[math.random(#ids)])
  end
  return wrk.format("GET", page())
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "errors": %d, "p50_ms": %.2f, "p95_ms": %.2f, ' ..
    '"p99_ms": %.2f, "max_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
