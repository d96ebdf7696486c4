-- pipeline_cpu's configuration: the bundled route and the DingTalk
-- template, as the floor comparison's herald renders them. The receiver
-- prints (nothing is sent: pipeline_cpu routes, renders and may store).
-- HERALD_BUILD_DIR (an absolute path) names another build's plugins.
route = "../../scripts/route.lua"
templates = "../../templates"
timezone = "Asia/Shanghai"
plugin_dir = env("HERALD_BUILD_DIR", "../../build") .. "/plugins"
default_receiver = "robot"
receivers = {
  -- as tests/bench/run's herald: the same alerts again are stored again
  robot = { channel = "console", template = "dingtalk", repeat_interval = "0s" },
}
