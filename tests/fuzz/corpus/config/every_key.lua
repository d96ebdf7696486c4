listen = "127.0.0.1:8060"
timezone = "+08:00"
route = "../scripts/route.lua"
templates = "../templates"
data_dir = "/tmp/herald-fuzz-data"
default_receiver = "ops"
log_level = "warn"
max_body = "512KiB"
http_threads = 2
queue_capacity = 100
shutdown_timeout = "3s"
dedup_window = "0s"
retention = "7d"
lua = { timeout = "50ms", memory = "8MiB" }
delivery = { timeout = "5s", retry_initial = "500ms", retry_max_delay = "1m", max_age = "1h",
             max_in_flight = 8, max_unrecorded = 16 }
auth = { username = "alertmanager", password = env("HERALD_FUZZ_PASSWORD", "pw") }
receivers = {
  ops = { channel = "dingtalk", urls = { "https://oapi.dingtalk.com/robot/send?access_token=a",
          "https://oapi.dingtalk.com/robot/send?access_token=b" }, secrets = { "SECa", "SECb" },
          template = "dingtalk", split = "alert", rate_per_minute = 10,
          mentions = { mobiles = { "13800000000" }, user_ids = { "u1" }, all = false } },
  wms = { channel = "dingtalk_keyword", url = "https://oapi.dingtalk.com/robot/send?access_token=c",
          keyword = "报警", proxy = "http://127.0.0.1:3128" },
  wecom = { channel = "wecom", url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
            msgtype = "markdown_v2" },
  feishu = { channel = "feishu", url = "https://open.feishu.cn/open-apis/bot/v2/hook/h",
             secret = "s", rate_per_second = 2 },
  slack = { channel = "slack", url = "https://hooks.slack.com/services/T0/B0/x", tls_verify = false },
  tg = { channel = "telegram", token = "123:AA", chat_id = "-100123", api_url = "http://127.0.0.1:8081" },
  mail = { channel = "email", url = "smtp://127.0.0.1:2525", from = "herald <a@example.com>",
           to = { "ops@example.com" }, cc = { "b@example.com" }, username = "u", password = "p",
           tls = "none", subject_prefix = "[herald] " },
  hook = { channel = "webhook", url = "https://example.com/alerts", method = "PUT",
           headers = { "X-Token: t" }, body = "payload", username = "u", password = "p" },
  console = { channel = "console", template = "console", path = "-" },
}
