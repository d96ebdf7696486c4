/* What both backends ask of an escalation whose time has come, in SQL
 * both speak: why it is no longer to be sent (NULL: it goes), for an
 * escalation `e` and its alert's state `s` (LEFT JOINed: a missing one
 * has been swept). The same firing is the state's: its start at or
 * before the one the escalation was made for. */
#ifndef HERALD_STORE_ESCALATION_SQL_H
#define HERALD_STORE_ESCALATION_SQL_H

#define ESCALATION_CANCEL_REASON                                                                 \
    "CASE WHEN s.fingerprint IS NULL THEN 'the alert is gone'"                                   \
    " WHEN s.status != 'firing' OR s.starts_at > e.starts_at THEN 'the alert resolved'"          \
    " WHEN s.ack_by IS NOT NULL THEN 'acknowledged by ' || s.ack_by"                             \
    " WHEN s.silenced_by IS NOT NULL THEN 'silenced by ' || s.silenced_by END"

/* Found so many at a time; the rest at the next look, a second later. */
#define ESCALATIONS_PER_LOOK 100

#endif
