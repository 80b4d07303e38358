-- wrk script for bench/serve_load.sh: POSTs to the URL's path with the bearer token in $TOKEN,
-- on keep-alive connections.
--   $BODY_FILE alone: the whole file as every request's body, with $CONTENT_TYPE.
--   $SHOTS=K as well: the file is a CIC-style CSV (header + flows) and each request sends the
--   header and the next K flows, so that every adaptation labels flows the model has not seen
--   (the service refuses one with nothing new); past the file's end it starts over, and those
--   requests are refused and counted as non-2xx.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local shots = tonumber(os.getenv("SHOTS") or "0")
local header, rows = nil, {}
if shots > 0 then
  header = f:read("*l")
  for line in f:lines() do rows[#rows + 1] = line end
else
  wrk.body = f:read("*a")
end
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = shots > 0 and "text/csv" or (os.getenv("CONTENT_TYPE") or "text/csv")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")

local next_row = 1
if shots > 0 then
  function request()
    local body = { header }
    for _ = 1, shots do
      if next_row > #rows then next_row = 1 end
      body[#body + 1] = rows[next_row]
      next_row = next_row + 1
    end
    return wrk.format(nil, nil, nil, table.concat(body, "\n") .. "\n")
  end
end

local errors = 0
function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
    if errors <= 3 then io.stderr:write("HTTP " .. status .. ": " .. body:sub(1, 200) .. "\n") end
  end
end
