#pragma once
// Everything weft offers, in one include.
#include "weft/compose.hpp"
#include "weft/config.hpp"
#include "weft/errors.hpp"
#include "weft/future.hpp"
#include "weft/generator.hpp"
#include "weft/net.hpp"
#include "weft/runtime.hpp"
#include "weft/sync.hpp"
#include "weft/task.hpp"
#include "weft/task_group.hpp"
#include "weft/time.hpp"
#include "weft/timeout.hpp"
