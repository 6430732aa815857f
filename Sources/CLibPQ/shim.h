#ifndef MISTRAL_ACTIONS_CLIBPQ_SHIM_H
#define MISTRAL_ACTIONS_CLIBPQ_SHIM_H

#include <libpq-fe.h>

#endif
