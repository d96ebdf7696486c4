-- Default WeCom (企业微信) template: Chinese markdown.
--
-- WeCom markdown has no title field, so the title is the first line, a
-- heading coloured with one of WeCom's three colours: warning (orange-red)
-- for 故障, info (green) for 恢复; comment (grey) marks times. Firing alerts
-- come first, then resolved ones, under their own headings when a message
-- holds both. The wecom plugin appends the <@userid> mentions itself, and
-- drops the colours for msgtype = "markdown_v2" and all markup for
-- msgtype = "text". WeCom's markdown knows no lists or rules, so each alert
-- is a block of bold-labelled lines. See README.md for data and helpers.

local text = herald.compile([[
{% local function row(name, value) if value ~= nil and value ~= "" then %}
**{{ name }}**：{{ herald.md_escape(value) }}
{% end end %}
{% local function show(alerts) for i, a in ipairs(alerts) do %}
{% local labels, notes = a.labels or {}, a.annotations or {} %}
{% if i > 1 then %}

{% end %}
{% row("告警名称", labels.alertname) %}
{% if labels.severity and labels.severity ~= "" then %}
**告警级别**：<font color="{{ a.status == "firing" and "warning" or "info" }}">{{ herald.md_escape(labels.severity) }}</font>
{% end %}
{% row("告警主机", labels.instance) %}
{% row("项目", labels.project) %}
{% row("环境", labels.env) %}
{% row("告警摘要", notes.summary) %}
{% row("告警详情", notes.description) %}
{% if a.status == "firing" then %}
**告警时间**：<font color="comment">{{ herald.time(a.startsAt) }}</font>
{% else %}
**开始时间**：<font color="comment">{{ herald.time(a.startsAt) }}</font>
**恢复时间**：<font color="comment">{{ herald.time(a.endsAt) }}</font>
{% end %}
{% if a.generatorURL and a.generatorURL ~= "" then %}
[查看详情]({{ a.generatorURL }})
{% end %}
{% end end %}
{% if status == "firing" then %}
## <font color="warning">🚨 {{ title }}</font>
{% else %}
## <font color="info">✅ {{ title }}</font>
{% end %}

{% if escalation then %}
**⏫ 升级告警**：{{ herald.md_escape(escalation.from) }} 超过 {{ escalation.after }} 未确认，已升级

{% end %}
{% if #firing > 0 and #resolved > 0 then %}
### <font color="warning">🔥 故障 {{ #firing }} 条</font>

{% show(firing) %}

### <font color="info">✅ 恢复 {{ #resolved }} 条</font>

{% show(resolved) %}
{% else %}
{% show(#firing > 0 and firing or resolved) %}
{% end %}
{% if (truncatedAlerts or 0) > 0 then %}

<font color="comment">另有 {{ truncatedAlerts }} 条告警未列出</font>
{% end %}
{% if actions then %}

{{ actions }}
{% end %}
]], "wecom text")

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
  -- a group too long for one message comes in numbered parts
  local heading = data.part and string.format("%s (%d/%d)", title, data.part.index,
                                             data.part.count) or title
  local view = setmetatable({ actions = action_line(data),
                              title = heading, firing = firing, resolved = resolved },
                            { __index = data })
  -- a storm's digest lists every alert under "<alertname> 🔥 故障 ×N"
  return { format = "markdown", title = title, text = text(view),
           digest = { firing = "🔥 故障", resolved = "✅ 恢复" } }
end
