-- DingTalk template: English markdown, the same content as dingtalk.lua.
--
-- Firing alerts come first, then resolved ones, under their own headings
-- when a message holds both. The DingTalk plugin appends the @mentions
-- itself, so the text does not. See README.md for the data and helpers.

local text = herald.compile([[
{% local function row(name, value) if value ~= nil and value ~= "" then %}
- **{{ name }}**: {{ herald.md_escape(value) }}
{% end end %}
{% local function show(alerts) for i, a in ipairs(alerts) do %}
{% local labels, notes = a.labels or {}, a.annotations or {} %}
{% if i > 1 then %}

---

{% end %}
{% row("Alert", labels.alertname) %}
{% row("Severity", labels.severity) %}
{% row("Instance", labels.instance) %}
{% row("Project", labels.project) %}
{% row("Environment", labels.env) %}
{% row("Summary", notes.summary) %}
{% row("Description", notes.description) %}
{% if a.status == "firing" then %}
{% row("Started", herald.time(a.startsAt)) %}
{% else %}
{% row("Resolved", herald.time(a.endsAt)) %}
{% end %}
{% if a.generatorURL and a.generatorURL ~= "" then %}
- [View source]({{ a.generatorURL }})
{% end %}
{% end end %}
{% if status == "firing" then %}
### <font color="#FF0000">🚨 {{ title }}</font>
{% else %}
### <font color="#00B050">✅ {{ title }}</font>
{% end %}

{% if escalation then %}
**⏫ Escalated** from {{ herald.md_escape(escalation.from) }} after {{ escalation.after }} unacknowledged

{% end %}
{% if #firing > 0 and #resolved > 0 then %}
#### <font color="#FF0000">🔥 Firing: {{ #firing }}</font>

{% show(firing) %}

#### <font color="#00B050">✅ Resolved: {{ #resolved }}</font>

{% show(resolved) %}
{% else %}
{% show(#firing > 0 and firing or resolved) %}
{% end %}
{% if (truncatedAlerts or 0) > 0 then %}

{{ truncatedAlerts }} more alerts not shown
{% end %}
{% if actions then %}

{{ actions }}
{% end %}
]], "dingtalk_en text")

-- The group's alert name; "… and more" when the alerts differ.
local function alert_name(data)
  local common = data.commonLabels or {}
  if common.alertname then
    return common.alertname
  end
  local first = (data.alerts or {})[1]
  local name = first and first.labels and first.labels.alertname
  return name and name .. " and more" or "Alert"
end

-- Signed links to herald's page (templates/README.md), on firing messages
-- when the configuration sets external_url: silence the group, or acknowledge it.
local function action_line(data)
  if data.status ~= "firing" then
    return nil
  end
  local hour = herald.action_url(data, "silence", "1h")
  if not hour then
    return nil
  end
  return string.format("Silence [1h](%s) · [4h](%s) · [24h](%s) · [Acknowledge](%s)", hour,
                       herald.action_url(data, "silence", "4h"),
                       herald.action_url(data, "silence", "24h"), herald.action_url(data, "ack"))
end

return function(data)
  local firing, resolved = data.firing or {}, data.resolved or {}
  local is_firing = data.status == "firing"
  local title = string.format("[%s] %s", is_firing and "FIRING" or "RESOLVED", alert_name(data))
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
  -- a storm's digest lists every alert under "<alertname> 🔥 FIRING ×N"
  return { format = "markdown", title = title, text = text(view),
           digest = { firing = "🔥 FIRING", resolved = "✅ RESOLVED" } }
end
