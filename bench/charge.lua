-- POST /api/v1/users/{id}/balance/charge {"amount":1}, round-robin over the charge users of
-- bench/prepare.sh (10,000 by default), each wrk thread on its own stride so that no two
-- threads charge the same user at the same moment more often than the spread implies.
local stats = require("stats")
stats.install("charge")

local user_min, user_count, next_index, stride

function init(args)
    user_min = stats.env_int("BENCH_CHARGE_USER_MIN")
    user_count = stats.env_int("BENCH_CHARGE_USER_MAX") - user_min + 1
    stride = stats.env_int("BENCH_THREADS")
    next_index = thread_index - 1
end

local headers = {["Content-Type"] = "application/json"}
local body = '{"amount":1}'

function request()
    local user_id = user_min + next_index % user_count
    next_index = next_index + stride
    return wrk.format("POST", "/api/v1/users/" .. user_id .. "/balance/charge", headers, body)
end
