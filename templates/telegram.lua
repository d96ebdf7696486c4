-- Default Telegram template: Chinese markdown.
--
-- The title is shown in bold on top; the text is markdown that the
-- Telegram plugin turns into Telegram HTML (**bold** → <b>, [label](url) →
-- <a href>, `code` → <code>, - lists → •). Firing alerts come first, then
-- resolved ones, under their own headings when a message holds both. The
-- plugin adds the mentions (tg://user links, @usernames) itself, so the
-- text does not. See README.md for the data and helpers.

local text = herald.compile([[
{% local function row(name, value) if value ~= nil and value ~= "" then %}
- **{{ name }}**：{{ herald.md_escape(value) }}
{% end end %}
{% local function show(alerts) for i, a in ipairs(alerts) do %}
{% local labels, notes = a.labels or {}, a.annotations or {} %}
{% if i > 1 then %}

---

{% end %}
{% row("告警名称", labels.alertname) %}
{% row("告警级别", labels.severity) %}
{% row("告警主机", labels.instance) %}
{% row("项目", labels.project) %}
{% row("环境", labels.env) %}
{% row("告警摘要", notes.summary) %}
{% row("告警详情", notes.description) %}
{% row("告警时间", herald.time(a.startsAt)) %}
{% if a.status ~= "firing" then %}
{% row("恢复时间", herald.time(a.endsAt)) %}
{% end %}
{% if a.generatorURL and a.generatorURL ~= "" then %}
- [查看详情]({{ a.generatorURL }})
{% end %}
{% end end %}
{% if #firing > 0 and #resolved > 0 then %}
## 🔥 故障 {{ #firing }} 条

{% show(firing) %}

## ✅ 恢复 {{ #resolved }} 条

{% show(resolved) %}
{% else %}
{% show(#firing > 0 and firing or resolved) %}
{% end %}
{% if (truncatedAlerts or 0) > 0 then %}

另有 {{ truncatedAlerts }} 条告警未列出
{% end %}
]], "telegram text")

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
  local title = string.format("%s [%s] %s", is_firing and "🚨" or "✅",
                              is_firing and "故障" or "恢复", alert_name(data))
  local count = is_firing and #firing or #resolved
  if count > 1 then
    title = string.format("%s (%d)", title, count)
  end
  local view = setmetatable({ firing = firing, resolved = resolved }, { __index = data })
  return { format = "markdown", title = title, text = text(view) }
end
