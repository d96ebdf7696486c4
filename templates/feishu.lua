-- Default Feishu / Lark template: Chinese markdown for an interactive card.
--
-- The title becomes the card's header, which the feishu plugin colours red
-- while alerts fire and green once resolved; the text is the card's markdown.
-- Firing alerts come first, then resolved ones, under their own headings
-- when a message holds both. The plugin appends the <at> mentions itself,
-- so the text does not. See README.md for the data and helpers.

-- Card markdown reads backslashes literally; characters that would start
-- markup are written as HTML entities instead, which Feishu shows as is.
local entities = {
  ["*"] = "&#42;", ["_"] = "&#95;", ["~"] = "&#126;", ["`"] = "&#96;",
  ["["] = "&#91;", ["]"] = "&#93;", ["<"] = "&#60;", [">"] = "&#62;",
}
local function card_escape(value)
  return (tostring(value):gsub("[%*_~`%[%]<>]", entities))
end

local text = herald.compile([[
{% local function row(name, value) if value ~= nil and value ~= "" then %}
**{{ name }}**：{{ escape(value) }}
{% end end %}
{% local function show(alerts) for i, a in ipairs(alerts) do %}
{% local labels, notes = a.labels or {}, a.annotations or {} %}
{% if i > 1 then %}
---
{% end %}
{% row("状态", a.status == "firing" and "🔥 故障" or "✅ 恢复") %}
{% row("告警名称", labels.alertname) %}
{% row("告警级别", labels.severity) %}
{% row("告警主机", labels.instance) %}
{% row("项目", labels.project) %}
{% row("环境", labels.env) %}
{% row("告警摘要", notes.summary) %}
{% row("告警详情", notes.description) %}
{% row("开始时间", herald.time(a.startsAt)) %}
{% if a.status ~= "firing" then %}
{% row("恢复时间", herald.time(a.endsAt)) %}
{% end %}
{% if a.generatorURL and a.generatorURL ~= "" then %}
[查看详情]({{ a.generatorURL }})
{% end %}
{% end end %}
{% if escalation then %}
**⏫ 升级告警**：{{ herald.md_escape(escalation.from) }} 超过 {{ escalation.after }} 未确认，已升级

{% end %}
{% if #firing > 0 and #resolved > 0 then %}
**<font color='red'>🔥 故障 {{ #firing }} 条</font>**

{% show(firing) %}
---
**<font color='green'>✅ 恢复 {{ #resolved }} 条</font>**

{% show(resolved) %}
{% else %}
{% show(#firing > 0 and firing or resolved) %}
{% end %}
{% if (truncatedAlerts or 0) > 0 then %}

另有 {{ truncatedAlerts }} 条告警未列出
{% end %}
{% if actions then %}

{{ actions }}
{% end %}
]], "feishu text")

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

-- Signed links to herald's page (templates/README.md), on firing messages
-- when the configuration sets external_url: silence the group, or claim it.
local function action_line(data)
  if data.status ~= "firing" then
    return nil
  end
  local hour = herald.action_url(data, "silence", "1h")
  if not hour then
    return nil
  end
  return string.format("静默 [1小时](%s) · [4小时](%s) · [24小时](%s) · [认领](%s)", hour,
                       herald.action_url(data, "silence", "4h"),
                       herald.action_url(data, "silence", "24h"), herald.action_url(data, "ack"))
end

return function(data)
  local firing, resolved = data.firing or {}, data.resolved or {}
  local is_firing = data.status == "firing"
  local title = string.format("[%s] %s", is_firing and "故障" or "恢复", alert_name(data))
  local count = is_firing and #firing or #resolved
  if count > 1 then
    title = string.format("%s (%d)", title, count)
  end
  local view = setmetatable({ actions = action_line(data),
                              firing = firing, resolved = resolved, escape = card_escape },
                            { __index = data })
  -- no trailing newline: the plugin puts the mentions one blank line below
  -- a storm's digest lists every alert under "<alertname> 🔥 故障 ×N"
  return { format = "markdown", title = title, text = (text(view):gsub("%s+$", "")),
           digest = { firing = "🔥 故障", resolved = "✅ 恢复" } }
end
