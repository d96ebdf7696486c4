#include "store/sqlite/private.h"

const store_backend sqlite_backend = {
    .open = sqlite_open,
    .start = sqlite_start,
    .close = sqlite_close,
    .commit = sqlite_commit,
    .mark_delivered = sqlite_mark_delivered,
    .mark_retry = sqlite_mark_retry,
    .mark_dead = sqlite_mark_dead,
    .record_send = sqlite_record_send,
    .record_pause = sqlite_record_pause,
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
};
