# See CMakeLists.txt. Each step says what it does; the first one that fails stops the test with
# its command and output.
cmake_minimum_required(VERSION 3.20)

set(prefix ${WORK_DIR}/prefix)
set(vendor ${WORK_DIR}/vendor-build)
set(gdn ${prefix}/bin/gdn)
set(plugin ${vendor}/libgdn_myvendor.so)

# run(<what> COMMAND <cmd>... [ENV <var=value>...] [UNSET <var>...] [MATCH <regex>...] [OUT <var>])
function(run what)
  cmake_parse_arguments(ARG "" "OUT" "COMMAND;ENV;UNSET;MATCH" ${ARGN})
  set(env_args)
  foreach(u IN LISTS ARG_UNSET)
    list(APPEND env_args --unset=${u})
  endforeach()
  list(APPEND env_args ${ARG_ENV})
  message(STATUS "sdk: ${what}")
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ${env_args} ${ARG_COMMAND}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "sdk: ${what}: failed (exit ${rc})\ncommand: ${ARG_COMMAND}\n${out}${err}")
  endif()
  foreach(re IN LISTS ARG_MATCH)
    if(NOT "${out}${err}" MATCHES "${re}")
      message(FATAL_ERROR "sdk: ${what}: output lacks '${re}'\ncommand: ${ARG_COMMAND}\n${out}${err}")
    endif()
  endforeach()
  if(ARG_OUT)
    set(${ARG_OUT} "${out}" PARENT_SCOPE)
  endif()
endfunction()

if(NOT CLANGXX)
  # The point is a plugin built by another compiler than the host; without clang (a machine not
  # set up by scripts/setup.sh, such as the GPU machine) the test is reported as skipped.
  message("sdk: skipped: clang++ not found; the example plugin must be built with clang (scripts/setup.sh installs it)")
  return()
endif()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# 1. Install, and check the layout: headers, libraries, the program, in-tree plugins in the
#    plugin directory, the package; and no test plugin.
run("cmake --install to a fresh prefix" COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(f bin/gdn include/gdn/plugin.h include/gdn/conformance.hpp include/gdn/harness.hpp include/gdn/reference.hpp
          ${LIBDIR}/libgdn_core.so ${LIBDIR}/libgdn_testing.so ${LIBDIR}/libgdn_registry.so ${LIBDIR}/gdn/plugins/libgdn_cpu.so ${LIBDIR}/cmake/gdn/gdnConfig.cmake
          ${LIBDIR}/cmake/gdn/gdnConfigVersion.cmake ${LIBDIR}/cmake/gdn/GdnPlugin.cmake ${LIBDIR}/cmake/gdn/plugin.map
          ${LIBDIR}/pkgconfig/gdn.pc ${LIBDIR}/pkgconfig/gdn-testing.pc)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "sdk: the install lacks ${f}")
  endif()
endforeach()
file(GLOB_RECURSE installed_plugins RELATIVE ${prefix} ${prefix}/*libgdn_*.so)
foreach(p IN LISTS installed_plugins)
  if(p MATCHES "(fake|wrong_major|mutant|abi_|lifecycle|throws|no_entry|stream_checker|fault)")
    message(FATAL_ERROR "sdk: a test plugin was installed: ${p}")
  endif()
endforeach()

# Every installed binary and library searches only absolute or $ORIGIN-relative directories
# (an empty RUNPATH entry would make the loader search the current working directory).
run("no empty or relative RUNPATH entry in the install" COMMAND ${CHECK_RUNPATH} ${prefix})

# 2. The installed gdn finds its own plugins relative to its libraries.
run("the installed gdn lists the cpu backend" COMMAND ${gdn} list UNSET GDN_PLUGIN_PATH GDN_BACKEND
    MATCH "available backends:\n(  [^\n]*\n)*  cpu ")

# 3. pkg-config answers from the prefix, and its flags compile the plugin header with clang.
if(PKG_CONFIG)
  run("pkg-config reports the version" COMMAND ${PKG_CONFIG} --modversion gdn
      ENV PKG_CONFIG_PATH=${prefix}/${LIBDIR}/pkgconfig MATCH "^[0-9]+\\.[0-9]+\\.[0-9]+")
  run("pkg-config: gdn-testing adds the testing library to gdn's" COMMAND ${PKG_CONFIG} --libs gdn-testing
      ENV PKG_CONFIG_PATH=${prefix}/${LIBDIR}/pkgconfig MATCH "-lgdn_testing .*-lgdn_registry -lgdn_core")
  run("pkg-config --cflags" COMMAND ${PKG_CONFIG} --cflags gdn ENV PKG_CONFIG_PATH=${prefix}/${LIBDIR}/pkgconfig OUT cflags)
  string(STRIP "${cflags}" cflags)
  separate_arguments(cflags UNIX_COMMAND "${cflags}")
  run("plugin.h compiles as C++17 with clang and the pkg-config flags"
      COMMAND ${CLANGXX} -x c++ -std=c++17 -fsyntax-only -Wall -Werror ${cflags} ${SOURCE_DIR}/tests/abi/header_only.c)
else()
  message(FATAL_ERROR "sdk: pkg-config not found (scripts/setup.sh installs it)")
endif()

# 4. The example plugin, out of tree, with clang, against the prefix alone.
run("configure examples/vendor-plugin with clang against the prefix"
    COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/vendor-plugin -B ${vendor} -G ${GENERATOR}
            -DCMAKE_CXX_COMPILER=${CLANGXX} -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release
            -DCMAKE_INSTALL_PREFIX=${prefix})
file(READ ${vendor}/CMakeFiles/${CMAKE_VERSION}/CMakeCXXCompiler.cmake cxx_info)
if(NOT cxx_info MATCHES "set\\(CMAKE_CXX_COMPILER_ID \"Clang\"\\)")
  message(FATAL_ERROR "sdk: the example plugin was not configured with clang")
endif()
run("build the example plugin" COMMAND ${CMAKE_COMMAND} --build ${vendor})
if(NOT EXISTS ${plugin})
  message(FATAL_ERROR "sdk: the build did not produce ${plugin}")
endif()
run("no empty or relative RUNPATH entry in the example plugin" COMMAND ${CHECK_RUNPATH} ${plugin})
run("the plugin exports gdn_plugin_entry and nothing else" COMMAND nm -D --defined-only ${plugin} OUT symbols)
string(REGEX MATCHALL "[^\n]+" symbol_lines "${symbols}")
foreach(line IN LISTS symbol_lines)
  if(NOT line MATCHES " gdn_plugin_entry$")
    message(FATAL_ERROR "sdk: the plugin exports more than gdn_plugin_entry:\n${symbols}")
  endif()
endforeach()

# 5. Loaded by name through GDN_PLUGIN_PATH; usable from the layer.
run("gdn list shows myvendor" COMMAND ${gdn} list ENV GDN_PLUGIN_PATH=${vendor} MATCH "\n  myvendor +myvendor reference CPU")
run("gdn run --backend myvendor" COMMAND ${gdn} run --backend myvendor --preset qwen3.5-0.8b --requests 2 --prefill 24 --decode 2
    ENV GDN_PLUGIN_PATH=${vendor} MATCH "decode: .*tokens/s")

# 6. Conformance on the plugin file, with reports that parse and agree.
run("gdn conformance --plugin passes"
    COMMAND ${gdn} conformance --plugin ${plugin} --json ${WORK_DIR}/myvendor.json --junit ${WORK_DIR}/myvendor.xml
    UNSET GDN_PLUGIN_PATH MATCH "myvendor: [0-9]+ passed, 0 failed" "conformance: PASSED")
run("the myvendor reports are valid" COMMAND ${CHECK_REPORTS} --json ${WORK_DIR}/myvendor.json
    --junit ${WORK_DIR}/myvendor.xml --backend myvendor --expect-pass)

# 7. The cross-vendor matrix: cpu and myvendor side by side.
run("gdn conformance --all prints the matrix for cpu and myvendor"
    COMMAND ${gdn} conformance --all --json ${WORK_DIR}/all.json --junit ${WORK_DIR}/all.xml
    ENV GDN_PLUGIN_PATH=${vendor} OUT matrix
    MATCH "conformance matrix \\(case x backend\\)\ncase [^\n]* cpu +myvendor" "\ngolden-[a-z0-9_]+ +PASS +PASS"
          "\ninvariant-padding-slot +PASS +PASS" "conformance: PASSED")
message(STATUS "sdk: the matrix:\n${matrix}")
run("the --all reports are valid" COMMAND ${CHECK_REPORTS} --json ${WORK_DIR}/all.json --junit ${WORK_DIR}/all.xml
    --backend cpu --backend myvendor --expect-pass)

# 8. Installed into the prefix, the plugin is found without GDN_PLUGIN_PATH.
run("install the example plugin into the prefix" COMMAND ${CMAKE_COMMAND} --install ${vendor})
run("the installed gdn finds the installed plugin" COMMAND ${gdn} list UNSET GDN_PLUGIN_PATH
    MATCH "\n  myvendor " "${prefix}/${LIBDIR}/gdn/plugins")
# 9. An engine, out of tree, against the prefix alone: examples/engine built with gdn's own compiler
#    and flags (an engine linking a sanitizer build of gdn must link the sanitizer runtime too),
#    run on the installed cpu backend and checked against the fp64 reference.
set(engine ${WORK_DIR}/engine-build)
run("configure examples/engine against the prefix"
    COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/engine -B ${engine} -G ${GENERATOR}
            -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release
            -DCMAKE_CXX_COMPILER=${ENGINE_CXX_COMPILER} -DCMAKE_CXX_FLAGS=${ENGINE_CXX_FLAGS}
            -DCMAKE_EXE_LINKER_FLAGS=${ENGINE_EXE_LINKER_FLAGS})
run("build the engine example" COMMAND ${CMAKE_COMMAND} --build ${engine})
run("the engine example serves extend, decode, mixed, free and reuse, matching the reference"
    COMMAND ${engine}/gdn_engine_example cpu UNSET GDN_PLUGIN_PATH GDN_BACKEND
    MATCH "pool: [0-9]+ bytes on cpu" "every output and state matched the fp64 reference")
message(STATUS "sdk: all steps passed")
