// The named module aio.signals: `import aio.signals;` gives //signals' API
// (add_signal_handler, remove_signal_handler) and, re-exported, aio.loop's (handlers run on a
// loop). The headers stay the source of truth; this unit exports the names they declare
// (tools/module_exports.py checks the list against them).
module;

#include "signals/signals.h"

export module aio.signals;

export import aio.loop;

export namespace aio {
// signals/signals.h
using aio::add_signal_handler;
using aio::remove_signal_handler;
using aio::SignalCallback;
}  // namespace aio
