-- Default webhook template: one compact JSON object per message, in a
-- shape that stays the same (plugins/webhook/README.md documents it):
--
--   { "version": "1", "receiver": "ops", "status": "firing",
--     "title": "[故障] HostDown (2)", "summary": "主机 10.0.0.11 无法访问",
--     "firing": 2, "resolved": 0, "truncatedAlerts": 0,
--     "groupLabels": {...}, "commonLabels": {...}, "commonAnnotations": {...},
--     "externalURL": "http://alertmanager:9093",
--     "alerts": [ { "status": "firing", "labels": {...}, "annotations": {...},
--                   "startsAt": "2024-05-01T08:00:00Z",
--                   "endsAt": "0001-01-01T00:00:00Z",
--                   "generatorURL": "http://…", "fingerprint": "60f314997491ddb1" } ] }
--
-- Times are RFC 3339 in UTC, with milliseconds when the source had them. A
-- firing alert has no end yet: its endsAt is Alertmanager's zero time, as
-- in Alertmanager's own webhooks. Key order inside objects is not fixed.
-- To forward the request exactly as it arrived, set body = "payload" on the
-- receiver instead of changing this file.

local ZERO_TIME = "0001-01-01T00:00:00Z"

local function rfc3339(epoch)
  if epoch == nil then
    return ZERO_TIME
  end
  local whole = math.floor(epoch)
  local ms = math.floor((epoch - whole) * 1000 + 0.5)
  if ms >= 1000 then
    whole, ms = whole + 1, 0
  end
  local stamp = os.date("!%Y-%m-%dT%H:%M:%S", whole)
  if ms > 0 then
    return string.format("%s.%03dZ", stamp, ms)
  end
  return stamp .. "Z"
end

-- The group's alert name; "…等" when the alerts differ.
local function alert_name(data)
  local common = data.commonLabels or {}
  if common.alertname then
    return common.alertname
  end
  local first = (data.alerts or {})[1]
  local name = first and first.labels and first.labels.alertname
  return name and name .. " 等" or "告警"
end

local function summary_of(data)
  local common = data.commonAnnotations or {}
  if common.summary then
    return common.summary
  end
  local first = (data.alerts or {})[1]
  return first and first.annotations and first.annotations.summary or ""
end

return function(data)
  local firing, resolved = data.firing or {}, data.resolved or {}
  local is_firing = data.status == "firing"
  local title = string.format("[%s] %s", is_firing and "故障" or "恢复", alert_name(data))
  local count = is_firing and #firing or #resolved
  if count > 1 then
    title = string.format("%s (%d)", title, count)
  end
  local alerts = {}
  for _, a in ipairs(data.alerts or {}) do
    alerts[#alerts + 1] = {
      status = a.status,
      labels = a.labels or {},
      annotations = a.annotations or {},
      startsAt = rfc3339(a.startsAt),
      endsAt = a.status == "resolved" and rfc3339(a.endsAt) or ZERO_TIME,
      generatorURL = a.generatorURL or "",
      fingerprint = a.fingerprint or "",
    }
  end
  return {
    body = {
      version = "1",
      receiver = data.receiver,
      status = data.status,
      title = title,
      summary = summary_of(data),
      firing = #firing,
      resolved = #resolved,
      truncatedAlerts = data.truncatedAlerts or 0,
      groupLabels = data.groupLabels or {},
      commonLabels = data.commonLabels or {},
      commonAnnotations = data.commonAnnotations or {},
      externalURL = data.externalURL or "",
      alerts = alerts,
    },
  }
end
