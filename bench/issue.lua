-- POST /api/v1/users/{id}/coupons {"couponId":C}: one hot coupon (BENCH_COUPON_ID, created
-- fresh by bench/run.sh with a large quantity), every request from a distinct user of the
-- issue range of bench/prepare.sh. When the range runs out, users repeat and are refused 409
-- COUPON_ALREADY_ISSUED (counted by status).
local stats = require("stats")
stats.install("issue")

local user_min, user_count, next_index, stride, body

function init(args)
    user_min = stats.env_int("BENCH_ISSUE_USER_MIN")
    user_count = stats.env_int("BENCH_ISSUE_USER_MAX") - user_min + 1
    stride = stats.env_int("BENCH_THREADS")
    next_index = thread_index - 1
    body = '{"couponId":' .. stats.env_int("BENCH_COUPON_ID") .. '}'
end

local headers = {["Content-Type"] = "application/json"}

function request()
    local user_id = user_min + next_index % user_count
    next_index = next_index + stride
    return wrk.format("POST", "/api/v1/users/" .. user_id .. "/coupons", headers, body)
end
