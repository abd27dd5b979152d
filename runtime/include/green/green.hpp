// greenshim's C++ API: gevent's, in C++20. One include for all of it.
#pragma once

#include "async_result.hpp"
#include "errors.hpp"
#include "event.hpp"
#include "greenlet.hpp"
#include "io.hpp"
#include "local.hpp"
#include "lock.hpp"
#include "pool.hpp"
#include "queue.hpp"
#include "semaphore.hpp"
#include "signal.hpp"
#include "timeout.hpp"
#include "patch.hpp"
