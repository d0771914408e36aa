/* t_stream.c: the stream commands. (Being written; the table is filled as commands land.) */
#include "core/command.h"

const rk_command rk_stream_commands[] = {{0}};
