/* t_hash.c: the hash type and its commands (being written). */
#include "core/command.h"

const rk_command rk_hash_commands[] = {{0}};
