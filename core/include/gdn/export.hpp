// Symbol visibility of the gdn shared libraries: everything is hidden unless marked GDN_API.
#pragma once

#if defined(_WIN32)
#define GDN_API __declspec(dllexport)
#else
#define GDN_API __attribute__((visibility("default")))
#endif
