-- wrk script: adaptations from labelled flows that are new each time, as an analyst's would be.
-- $BODY_FILE is a CIC-style CSV (header + flows); each request POSTs the header and the next
-- $SHOTS flows (default 5) to the URL's path with the bearer token in $TOKEN. A flow labelled
-- again is not learnt again (the service refuses a request with nothing new), so the file
-- should hold more flows than the run makes requests times SHOTS; requests past its end are
-- counted as errors (bench/serve_load.sh).
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local header = f:read("*l")
local rows = {}
for line in f:lines() do rows[#rows + 1] = line end
f:close()
local shots = tonumber(os.getenv("SHOTS") or "5")
local next_row = 1
local headers = {
  ["Content-Type"] = "text/csv",
  ["Authorization"] = "Bearer " .. os.getenv("TOKEN"),
}

function request()
  local body = { header }
  for _ = 1, shots do
    if next_row > #rows then next_row = 1 end
    body[#body + 1] = rows[next_row]
    next_row = next_row + 1
  end
  return wrk.format("POST", nil, headers, table.concat(body, "\n") .. "\n")
end

local errors = 0
function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
    if errors <= 3 then io.stderr:write("HTTP " .. status .. ": " .. body:sub(1, 200) .. "\n") end
  end
end
