/*
 * client.h -- dispatchctl's broker side, in the program only (the unit
 * test links the library without it): the round trip of a request
 * (call.c) and the event watch (watch.c).
 */
#ifndef DD_CTL_CLIENT_H
#define DD_CTL_CLIENT_H

#include <stddef.h>

#include "broker.h"
#include "ctl.h"

int ctl_open_broker(const ctl_opts *o, broker **out);
int ctl_call(const ctl_opts *o, ctl_req *req, const char *body, size_t len);
int ctl_watch(const ctl_opts *o, int argc, char **argv);

#endif
