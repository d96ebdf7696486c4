-- herald routing: this file returns a function that herald calls once per
-- alert. See scripts/README.md.
--
--   alert             { status, labels, annotations, startsAt, endsAt,
--                       generatorURL, fingerprint }
--   default_receiver  the receiver named in the request path
--                     (/webhook/<name>), else `default_receiver` of the config
--   receivers         { name = channel } for every configured receiver
--   request           { endpoint = "webhook" | "dingtalk" | "alerts",
--                       receiver = the receiver the path names, or nil }
--
-- Return a list of receivers. An item is a receiver name, or a table
-- { receiver = "name", mobiles = {...}, user_ids = {...}, all = bool } that
-- adds mentions for this alert. Return nil for the default receiver, or {}
-- to send the alert nowhere.

-- Each project has its own robot and on-call phones, as in the classic
-- Flask relays: an alert labelled project="wms" goes to the wms robot and
-- @-mentions its on-call people.
local projects = {
  wms = { receiver = "wms", mobiles = { "13800000001" } },
  erp = { receiver = "erp", mobiles = { "13800000002", "13800000003" } },
}

-- Critical alerts also go here, in addition to the project's or default one.
local critical_receiver = "oncall"

return function(alert, default_receiver, receivers, request)
  local targets = {}
  -- prometheus-webhook-dingtalk's path, /dingtalk/<name>/send, names the
  -- robot: that one gets the alert, whatever its project.
  local by_path = request.endpoint == "dingtalk"
  local project = not by_path and projects[alert.labels.project or ""]
  if project and receivers[project.receiver] then
    targets[#targets + 1] = { receiver = project.receiver, mobiles = project.mobiles }
  else
    targets[#targets + 1] = default_receiver
  end
  if alert.labels.severity == "critical" and receivers[critical_receiver]
      and critical_receiver ~= targets[1] then
    targets[#targets + 1] = critical_receiver
  end
  return targets
end
