/* t_set.c: the set type and its commands (being written). */
#include "core/command.h"

const rk_command rk_set_commands[] = {{0}};
