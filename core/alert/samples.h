/* Built-in sample alerts that `herald check` and every reload render with
 * each receiver's template, so a template that cannot render is refused
 * before it serves. */
#ifndef HERALD_SAMPLES_H
#define HERALD_SAMPLES_H

#include "alert/alert.h"

/* Fills a two-alert batch, firing or resolved, with labels operators use
 * (alertname, instance, severity, project, env) and Chinese annotations. */
void sample_batch(int resolved, alert_batch *out);

#endif
