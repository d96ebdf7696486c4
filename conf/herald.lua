-- herald configuration. It is Lua, run in the same sandbox as the scripts:
-- env("NAME") reads the environment, so secrets never live in this file.
-- Relative paths are resolved against this file's directory.
-- `herald check -c conf/herald.lua` validates it; conf/README.md lists every key.

listen = "127.0.0.1:8060"          -- prometheus-webhook-dingtalk's port: switching is a URL change
timezone = "Asia/Shanghai"         -- for herald.time() in templates
route = "../scripts/route.lua"
templates = "../templates"
data_dir = "../data"               -- the durable outbox and alert history (SQLite)
-- plugin_dir defaults to the plugins built beside the herald binary,
-- or the installed plugin directory.
default_receiver = "console"
-- Require a token from senders (Alertmanager: http_config.authorization); see conf/README.md.
-- auth = { bearer_token = env("HERALD_TOKEN") }

receivers = {
  -- Every message as one JSON line on standard output: works with no secrets.
  console = { channel = "console", template = "console" },

  -- A signed DingTalk robot (安全设置: 加签). Uncomment and export the variables:
  --   export DINGTALK_OPS_URL='https://oapi.dingtalk.com/robot/send?access_token=…'
  --   export DINGTALK_OPS_SECRET='SEC…'
  -- ops = { channel = "dingtalk", url = env("DINGTALK_OPS_URL"), secret = env("DINGTALK_OPS_SECRET"),
  --         template = "dingtalk", mentions = { mobiles = { "13800000000" }, all = false } },

  -- A keyword robot (安全设置: 自定义关键词): herald makes sure the keyword is in the message.
  -- wms = { channel = "dingtalk_keyword", url = env("DINGTALK_WMS_URL"), keyword = "报警" },
}
