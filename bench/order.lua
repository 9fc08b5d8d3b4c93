-- POST /api/v1/orders {"userId":U,"products":[{"id":P,"quantity":1}]}: one line of quantity 1
-- per order, a random user of the order range of bench/prepare_orders.sh per request, and the
-- product by BENCH_ORDER_MODE:
--   spread  uniform over every product of the range (10,000 by default)
--   hot10   uniform over the first 10 products of the range
--   hot1    always the first product of the range
-- The RESULT line (stats.lua's fields) adds paid (200), failed (409), pending (202: the ingress
-- answered at its deadline without the outcome; never counted as paid) and the error codes of
-- the failed ones (failed_reasons=CODE:n,...).
local stats = require("stats")

local hot_counts = {hot10 = 10, hot1 = 1}
local mode = os.getenv("BENCH_ORDER_MODE") or ""
if mode ~= "spread" and hot_counts[mode] == nil then
    error("BENCH_ORDER_MODE must be spread, hot10 or hot1, not '" .. mode .. "'")
end
local scenario = "order_" .. mode
stats.install(scenario)

-- stats.install keeps its thread list to itself: keep our own to merge the failure reasons.
local threads = {}
local stats_setup = setup
function setup(thread)
    stats_setup(thread)
    table.insert(threads, thread)
end

local user_min, user_max, product_min, product_max

function init(args)
    user_min = stats.env_int("BENCH_ORDER_USER_MIN")
    user_max = stats.env_int("BENCH_ORDER_USER_MAX")
    product_min = stats.env_int("BENCH_ORDER_PRODUCT_MIN")
    product_max = stats.env_int("BENCH_ORDER_PRODUCT_MAX")
    if mode ~= "spread" then
        product_max = product_min + hot_counts[mode] - 1
    end
    math.randomseed(os.time() * 1000 + thread_index)
end

local headers = {["Content-Type"] = "application/json"}

function request()
    local body = string.format('{"userId":%d,"products":[{"id":%d,"quantity":1}]}',
        math.random(user_min, user_max), math.random(product_min, product_max))
    return wrk.format("POST", "/api/v1/orders", headers, body)
end

-- Runs in each thread's own Lua state: counts statuses (as stats.lua does) and the error code
-- of every 409.
statuses = {}
reasons = {}
function response(status, response_headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if status == 409 then
        local code = body and body:match('"error"%s*:%s*"([%u_]+)"') or "UNKNOWN"
        reasons[code] = (reasons[code] or 0) + 1
    end
end

-- "k:v,k:v" sorted by key, or "none".
local function counts_text(counts, key_format)
    local keys = {}
    for key in pairs(counts) do
        table.insert(keys, key)
    end
    table.sort(keys)
    local parts = {}
    for _, key in ipairs(keys) do
        table.insert(parts, string.format(key_format .. ":%d", key, counts[key]))
    end
    return #parts > 0 and table.concat(parts, ",") or "none"
end

function done(summary, latency, requests)
    local merged, merged_reasons = {}, {}
    for _, thread in ipairs(threads) do
        for status, count in pairs(thread:get("statuses") or {}) do
            merged[status] = (merged[status] or 0) + count
        end
        for code, count in pairs(thread:get("reasons") or {}) do
            merged_reasons[code] = (merged_reasons[code] or 0) + count
        end
    end
    local seconds = summary.duration / 1e6
    local errors = summary.errors
    local paid = merged[200] or 0
    io.write(string.format(
        "RESULT scenario=%s requests=%d seconds=%.1f rps=%.0f paid_per_s=%.0f p50_ms=%.2f "
            .. "p99_ms=%.2f paid=%d failed=%d pending=%d failed_reasons=%s statuses=%s "
            .. "socket_errors=connect:%d,read:%d,write:%d,timeout:%d\n",
        scenario, summary.requests, seconds, summary.requests / seconds, paid / seconds,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, paid, merged[409] or 0,
        merged[202] or 0, counts_text(merged_reasons, "%s"), counts_text(merged, "%d"),
        errors.connect, errors.read, errors.write, errors.timeout))
end
