-- Shared by every scenario: counts responses by HTTP status in each wrk thread and, when the
-- run is over, prints the merged counts with throughput and latency percentiles on one
-- RESULT line (key=value) after wrk's own report. A scenario calls stats.install(name) and
-- defines request() when it needs one.
local stats = {}

local threads = {}

function stats.install(scenario)
    function setup(thread)
        table.insert(threads, thread)
        thread:set("thread_index", #threads)
    end

    -- Runs in each thread's own Lua state.
    statuses = {}
    function response(status, headers, body)
        statuses[status] = (statuses[status] or 0) + 1
    end

    function done(summary, latency, requests)
        local merged = {}
        for _, thread in ipairs(threads) do
            local counts = thread:get("statuses") or {}
            for status, count in pairs(counts) do
                merged[status] = (merged[status] or 0) + count
            end
        end
        local keys = {}
        for status in pairs(merged) do
            table.insert(keys, status)
        end
        table.sort(keys)
        local parts = {}
        for _, status in ipairs(keys) do
            table.insert(parts, string.format("%d:%d", status, merged[status]))
        end
        local seconds = summary.duration / 1e6
        local errors = summary.errors
        io.write(string.format(
            "RESULT scenario=%s requests=%d seconds=%.1f rps=%.0f p50_ms=%.2f p99_ms=%.2f "
                .. "statuses=%s socket_errors=connect:%d,read:%d,write:%d,timeout:%d\n",
            scenario, summary.requests, seconds, summary.requests / seconds,
            latency:percentile(50) / 1000, latency:percentile(99) / 1000,
            #parts > 0 and table.concat(parts, ",") or "none", errors.connect, errors.read,
            errors.write, errors.timeout))
    end
end

-- An integer from the environment (run.sh exports them from bench.env), or an error.
function stats.env_int(name)
    local value = tonumber(os.getenv(name) or "")
    if value == nil then
        error(name .. " is not set: run bench/prepare.sh (bench/run.sh reads its bench.env)")
    end
    return value
end

return stats
