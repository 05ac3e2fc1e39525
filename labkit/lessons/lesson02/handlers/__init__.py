"""Lesson 02's handler modules, and their texts.

Each ``.py`` file here is an ordinary handler module (``def handler(event, context)``) that
calls the lesson's price service at ``https://prices.internal/prices``. labkit never imports
them: the lesson deploys their *text* into a Lab, and the notebook shows the same text.

``PRICE_LOOKUP_SOURCE``     loads the price list in Init, counts the calls its environment served
``CACHE_SOURCES``           the price list cached in a module-level variable (``"global"``), in
                            /tmp (``"tmp"``) or not at all (``"none"``); the files say ``TTL_S = 60``,
                            ``experiments.cache_handler_source`` sets another TTL
``CLIENT_PER_CALL_SOURCE``  a new client (a new connection) for every event
``CLIENT_IN_INIT_SOURCE``   one client per environment, made in Init
``QUICK_SOURCE``            returns at once (the keep-alive experiment)
``HERD_FIXED_TTL_SOURCE``   every environment refreshes its copy when a fixed TTL runs out
``HERD_JITTERED_SOURCE``    refreshes spread over the second half of the TTL
``BASKET_SOURCE`` / ``BASKET_SOLUTION``  exercise 2's starting point and a reference solution
"""

from labkit.lessons import handler_source

PRICE_LOOKUP_SOURCE = handler_source(__name__, "price_lookup.py")
CACHE_SOURCES = {placement: handler_source(__name__, f"cache_{placement}.py")
                 for placement in ("global", "tmp", "none")}
CLIENT_PER_CALL_SOURCE = handler_source(__name__, "client_per_call.py")
CLIENT_IN_INIT_SOURCE = handler_source(__name__, "client_in_init.py")
QUICK_SOURCE = handler_source(__name__, "quick.py")
HERD_FIXED_TTL_SOURCE = handler_source(__name__, "herd_fixed_ttl.py")
HERD_JITTERED_SOURCE = handler_source(__name__, "herd_jittered.py")
BASKET_SOURCE = handler_source(__name__, "basket_starter.py")
BASKET_SOLUTION = handler_source(__name__, "basket_solution.py")

__all__ = ["PRICE_LOOKUP_SOURCE", "CACHE_SOURCES", "CLIENT_PER_CALL_SOURCE", "CLIENT_IN_INIT_SOURCE", "QUICK_SOURCE",
           "HERD_FIXED_TTL_SOURCE", "HERD_JITTERED_SOURCE", "BASKET_SOURCE", "BASKET_SOLUTION"]
