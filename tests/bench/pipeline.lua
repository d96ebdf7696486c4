-- pipeline_cpu's configuration: the bundled route and the DingTalk
-- template, as the floor comparison's herald renders them. The receiver
-- prints (nothing is sent: pipeline_cpu only routes and renders).
-- HERALD_BUILD_DIR (an absolute path) names another build's plugins.
route = "../../scripts/route.lua"
templates = "../../templates"
timezone = "Asia/Shanghai"
plugin_dir = env("HERALD_BUILD_DIR", "../../build") .. "/plugins"
default_receiver = "robot"
receivers = {
  robot = { channel = "console", template = "dingtalk" },
}
