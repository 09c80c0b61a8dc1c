-- wrk script for Tollgate's benchmark: one non-streaming OpenAI chat completion request,
-- sent over keep-alive connections. No request()/response() callbacks, so wrk pre-builds the
-- request once and the load generator stays as cheap as possible on a small machine.
wrk.method = "POST"
wrk.path   = "/v1/chat/completions"
wrk.body   = '{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Connection"]   = "keep-alive"
-- bench/run --full: a virtual key (nginx passes the header through to the upstream, harmlessly)
local key = os.getenv("TG_BENCH_KEY")
if key ~= nil and key ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. key
end
