-- Default e-mail template: Chinese HTML, one table per alert.
--
-- The title becomes the subject. The email plugin derives the plain-text
-- alternative from this HTML (tags dropped, one line per table row, links
-- followed by their address), so there is no second text to keep in step.
-- Everything that comes from alerts goes through esc(): label values and
-- annotations are text, not markup. See README.md for the data and helpers.

local entities = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

local function esc(value)
  return (tostring(value):gsub("[&<>\"']", entities))
end

-- Escaped, with the line breaks of multi-line annotations kept.
local function esc_lines(value)
  return (esc(value):gsub("\r?\n", "<br>\n"))
end

-- Labels shown in their own rows; the rest go to the 其他标签 row.
local shown = { alertname = true, severity = true, instance = true, project = true, env = true }

local html = herald.compile([[
{% local th = 'style="text-align: left; vertical-align: top; padding: 4px 12px 4px 0; color: #555; white-space: nowrap;"' %}
{% local td = 'style="padding: 4px 0; vertical-align: top;"' %}
{% local function row(name, value) if value ~= nil and value ~= "" then %}
<tr><th {{ th }}>{{ name }}</th><td {{ td }}>{{ esc_lines(value) }}</td></tr>
{% end end %}
{% local function show(alerts) for _, a in ipairs(alerts) do %}
{% local labels, notes = a.labels or {}, a.annotations or {} %}
<table style="border-collapse: collapse; margin: 0 0 16px 0; border-left: 4px solid {{ a.status == "firing" and "#d93025" or "#188038" }}; padding-left: 8px;">
{% row("告警名称", labels.alertname) %}
{% row("告警级别", labels.severity) %}
{% row("告警主机", labels.instance) %}
{% row("项目", labels.project) %}
{% row("环境", labels.env) %}
{% row("告警摘要", notes.summary) %}
{% row("告警详情", notes.description) %}
{% if a.status == "firing" then %}
{% row("告警时间", herald.time(a.startsAt)) %}
{% else %}
{% row("开始时间", herald.time(a.startsAt)) %}
{% row("恢复时间", herald.time(a.endsAt)) %}
{% end %}
{% local others = {} %}
{% for name, value in herald.sorted(labels) do if not shown[name] then others[#others + 1] = name .. "=" .. value end end %}
{% row("其他标签", table.concat(others, ", ")) %}
{% if a.generatorURL and a.generatorURL ~= "" then %}
<tr><th {{ th }}>来源</th><td {{ td }}><a href="{{ esc(a.generatorURL) }}">查看详情</a></td></tr>
{% end %}
</table>
{% end end %}
<div style="font-family: -apple-system, 'Segoe UI', 'PingFang SC', 'Microsoft YaHei', sans-serif; font-size: 14px; color: #202124;">
<h2 style="margin: 0 0 16px 0; color: {{ status == "firing" and "#d93025" or "#188038" }};">{{ status == "firing" and "🚨" or "✅" }} {{ esc(title) }}</h2>
{% if #firing > 0 and #resolved > 0 then %}
<h3 style="color: #d93025;">🔥 故障 {{ #firing }} 条</h3>
{% show(firing) %}
<h3 style="color: #188038;">✅ 恢复 {{ #resolved }} 条</h3>
{% show(resolved) %}
{% else %}
{% show(#firing > 0 and firing or resolved) %}
{% end %}
{% if (truncatedAlerts or 0) > 0 then %}
<p>另有 {{ truncatedAlerts }} 条告警未列出</p>
{% end %}
<p style="color: #888; font-size: 12px;">由 herald 发送{% if externalURL and externalURL ~= "" then %} · <a href="{{ esc(externalURL) }}">Alertmanager</a>{% end %}</p>
</div>
]], "email html")

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
  local view = setmetatable({ title = heading, firing = firing, resolved = resolved, esc = esc,
                              esc_lines = esc_lines, shown = shown },
                            { __index = data })
  return { format = "html", title = title, text = html(view) }
end
