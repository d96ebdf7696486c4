-- Plain-text template for the console channel and for `herald render`:
-- one block per alert, every label in key order.

local text = herald.compile([[
{{ title }}
receiver: {{ receiver }}
{% if escalation then %}
escalated from {{ escalation.from }} after {{ escalation.after }}
{% end %}
{% for _, a in ipairs(alerts) do %}

{{ string.upper(a.status) }} {{ a.labels.alertname }}
{% if a.annotations.summary then %}
  summary:     {{ a.annotations.summary }}
{% end %}
{% if a.annotations.description then %}
  description: {{ a.annotations.description }}
{% end %}
  started:     {{ herald.time(a.startsAt) }}
{% if a.status == "resolved" then %}
  resolved:    {{ herald.time(a.endsAt) }}
{% end %}
  labels:     {% for name, value in herald.sorted(a.labels) do %} {{ name }}={{ value }}{% end %}
{% if a.generatorURL and a.generatorURL ~= "" then %}
  source:      {{ a.generatorURL }}
{% end %}
{% end %}
{% if (truncatedAlerts or 0) > 0 then %}

{{ truncatedAlerts }} more alerts not shown
{% end %}
]], "console text")

return function(data)
  local alerts = {}
  for _, list in ipairs({ data.firing or {}, data.resolved or {} }) do
    for _, a in ipairs(list) do
      alerts[#alerts + 1] = {
        status = a.status,
        labels = a.labels or {},
        annotations = a.annotations or {},
        startsAt = a.startsAt,
        endsAt = a.endsAt,
        generatorURL = a.generatorURL,
      }
    end
  end
  local name = (data.commonLabels or {}).alertname
      or (alerts[1] and alerts[1].labels.alertname) or "alert"
  -- Alertmanager's own title style: "[FIRING:2] Name", "[RESOLVED] Name".
  local title = data.status == "firing"
      and string.format("[FIRING:%d] %s", #(data.firing or {}), name)
      or string.format("[RESOLVED] %s", name)
  -- a group too long for one message comes in numbered parts
  local heading = data.part and string.format("%s (%d/%d)", title, data.part.index,
                                             data.part.count) or title
  local view = setmetatable({ title = heading, alerts = alerts }, { __index = data })
  return { format = "text", title = title, text = text(view) }
end
