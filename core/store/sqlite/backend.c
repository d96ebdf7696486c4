#include "store/sqlite/private.h"

const store_backend sqlite_backend = {
    .open = sqlite_open,
    .start = sqlite_start,
    .close = sqlite_close,
    .load_targets = sqlite_load_targets,
    .load_pending = sqlite_load_pending,
    .reader_open = sqlite_reader_open,
    .reader_close = sqlite_reader_close,
    .list = sqlite_list,
    .show = sqlite_show,
    .requeue = sqlite_requeue,
    .drop = sqlite_drop,
    .history = sqlite_history,
    .history_top = sqlite_history_top,
    .alerts = sqlite_alerts,
    .expired_alerts = sqlite_expired_alerts,
    .on_requests = sqlite_on_requests,
    .send_now = sqlite_send_now,
    .drop_pending = sqlite_drop_pending,
    .unpause = sqlite_unpause,
    .export_rows = sqlite_export_rows,
};
