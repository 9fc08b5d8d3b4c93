-- GET /api/v1/products over many pages, the way a catalogue is browsed: half of the requests
-- read the first page, the others one of BENCH_PAGES deeper pages (cursor = k * 1000, limit 20;
-- default 50 pages), so the page cache (docs/reports/caching.md) sees a realistic mix of hot
-- and warm keys instead of a single one. Needs a catalogue of at least BENCH_PAGES * 1000
-- products (scripts/index_report.sh builds 100,000 in its bench database).
local stats = require("stats")
stats.install("products_cached")

local pages, counter

function init(args)
    pages = tonumber(os.getenv("BENCH_PAGES") or "") or 50
    counter = thread_index or 1
end

function request()
    counter = counter + 1
    local cursor = 0
    if counter % 2 == 0 then
        cursor = ((counter * 7919) % pages + 1) * 1000
    end
    return wrk.format("GET", "/api/v1/products?limit=20&cursor=" .. cursor)
end
