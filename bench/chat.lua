-- wrk script for Tollgate's benchmark (bench/run): one non-streaming OpenAI chat completion
-- request, sent over keep-alive connections. No request()/response() callbacks, so wrk pre-builds
-- the request once and the load generator stays as cheap as possible on a small machine.
--
-- bench/run sets BENCH_BODY (the JSON body) and BENCH_HEADERS (extra "Name: value" lines, one per
-- line: the virtual key and task header for Tollgate, Portkey's provider headers for Portkey).
-- TG_BENCH_KEY alone still works, as before.
wrk.method = "POST"
wrk.path   = "/v1/chat/completions"
wrk.body   = os.getenv("BENCH_BODY") or
             '{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Connection"]   = "keep-alive"
local key = os.getenv("TG_BENCH_KEY")
if key ~= nil and key ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. key
end
local extra = os.getenv("BENCH_HEADERS")
if extra ~= nil then
    for line in extra:gmatch("[^\n]+") do
        local name, value = line:match("^([^:]+):%s*(.*)$")
        if name ~= nil then
            wrk.headers[name] = value
        end
    end
end
