/* t_zset.c: the zset type and its commands (being written). */
#include "core/command.h"

const rk_command rk_zset_commands[] = {{0}};
