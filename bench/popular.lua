-- GET /api/v1/products/popular: the top 5 of the last 3 days, the same answer for everyone
-- (docs/reports/caching.md: fresh for 2 s, one request computes the next while the others
-- serve the previous one).
local stats = require("stats")
stats.install("popular")

wrk.method = "GET"
wrk.path = "/api/v1/products/popular"
