-- GET /api/v1/users/{id}/balance, round-robin over the charge users of bench/prepare.sh.
local stats = require("stats")
stats.install("balance")

local user_min, user_count, next_index, stride

function init(args)
    user_min = stats.env_int("BENCH_CHARGE_USER_MIN")
    user_count = stats.env_int("BENCH_CHARGE_USER_MAX") - user_min + 1
    stride = stats.env_int("BENCH_THREADS")
    next_index = thread_index - 1
end

function request()
    local user_id = user_min + next_index % user_count
    next_index = next_index + stride
    return wrk.format("GET", "/api/v1/users/" .. user_id .. "/balance")
end
