-- herald configuration. It is Lua, run in the same sandbox as the scripts:
-- env("NAME") reads the environment, so secrets never live in this file.
-- Relative paths are resolved against this file's directory.
-- `herald check -c conf/herald.lua` validates it; conf/README.md lists every key.

listen = "127.0.0.1:8060"          -- prometheus-webhook-dingtalk's port: switching is a URL change
timezone = "Asia/Shanghai"         -- for herald.time() in templates
route = "../scripts/route.lua"
templates = "../templates"
data_dir = "../data"               -- the durable outbox and alert history (SQLite)
-- Or the store in PostgreSQL (several replicas may share it); see conf/README.md.
-- store = { backend = "postgresql", dsn = env("HERALD_PG_DSN") }
-- plugin_dir defaults to the plugins built beside the herald binary,
-- or the installed plugin directory.
default_receiver = "console"
-- Require a token from senders (Alertmanager: http_config.authorization); see conf/README.md.
-- auth = { bearer_token = env("HERALD_TOKEN") }

-- A receiver is told of an unchanged alert again only after its
-- repeat_interval (default "4h", as in Alertmanager; "0s": every time).
-- Quiet hours (README.md, "Quiet hours"): name intervals, then give a receiver
-- mute_time_intervals = { "night" } (or active_time_intervals), muted = "hold" | "drop".
-- time_intervals = { night = { { times = { { start_time = "22:00", end_time = "24:00" },
--   { start_time = "00:00", end_time = "08:00" } }, location = "Asia/Shanghai" } } }
receivers = {
  -- Every message as one JSON line on standard output: works with no secrets.
  console = { channel = "console", template = "console" },

  -- The receivers scripts/route.lua sends to: per-project robots and the
  -- on-call robot for critical alerts. They print to standard output too, so
  -- the bundled route runs as written with no secrets; make each a robot by
  -- replacing its line, for example:
  --   export DINGTALK_WMS_URL='https://oapi.dingtalk.com/robot/send?access_token=…'
  --   export DINGTALK_WMS_SECRET='SEC…'
  --   wms = { channel = "dingtalk", url = env("DINGTALK_WMS_URL"), secret = env("DINGTALK_WMS_SECRET"),
  --           template = "dingtalk" },
  -- A keyword robot (安全设置: 自定义关键词) instead: herald makes sure the keyword is in the message.
  --   wms = { channel = "dingtalk_keyword", url = env("DINGTALK_WMS_URL"), keyword = "报警" },
  wms = { channel = "console", template = "console" },
  erp = { channel = "console", template = "console" },
  oncall = { channel = "console", template = "console",
             mentions = { mobiles = { "13800000000" }, all = false } },
}
