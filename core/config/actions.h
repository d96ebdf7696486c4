/* external_url and alertmanager: where herald's action links point, and
 * the Alertmanager their silences go to (README "Action links"). */
#ifndef HERALD_CONFIG_ACTIONS_H
#define HERALD_CONFIG_ACTIONS_H

#include "config/reader.h"

/* Reads both keys of the table at the top of the stack into rd->conf. */
int read_actions_section(conf_reader *rd);

#endif
