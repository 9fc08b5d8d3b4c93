-- GET /api/v1/products (the first page, 20 SELLING products): the read every visitor makes.
local stats = require("stats")
stats.install("products")

wrk.method = "GET"
wrk.path = "/api/v1/products"
