-- wrk script: POST the file $BODY_FILE to the URL's path with $CONTENT_TYPE and the bearer
-- token in $TOKEN, on keep-alive connections (bench/serve_load.sh).
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "text/csv"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")

local errors = 0
function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
    if errors <= 3 then io.stderr:write("HTTP " .. status .. ": " .. body:sub(1, 200) .. "\n") end
  end
end
