# The installed SDK: the CMake package (targets gdn::core, gdn::registry, gdn::testing,
# gdn::conformance, gdn::plugin_sdk and the function gdn_add_plugin) and a pkg-config file.
# Libraries, headers, the gdn program and plugins are installed by their own directories; this
# file adds what ties them together. Everything is relative to the prefix, so an install can be moved.
include(CMakePackageConfigHelpers)

# The plugin ABI version, read from the header that defines it.
file(STRINGS ${PROJECT_SOURCE_DIR}/core/include/gdn/plugin.h _gdn_abi REGEX "^#define GDN_ABI_(MAJOR|MINOR) ")
string(REGEX REPLACE ".*GDN_ABI_MAJOR ([0-9]+).*" "\\1" GDN_ABI_MAJOR "${_gdn_abi}")
string(REGEX REPLACE ".*GDN_ABI_MINOR ([0-9]+).*" "\\1" GDN_ABI_MINOR "${_gdn_abi}")

set(GDN_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/gdn)

install(EXPORT gdnTargets NAMESPACE gdn:: DESTINATION ${GDN_INSTALL_CMAKEDIR} FILE gdnTargets.cmake)

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/gdnConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/gdnConfig.cmake
  INSTALL_DESTINATION ${GDN_INSTALL_CMAKEDIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR)
# The C++ API is 0.x: a minor release may change it, so only the same major.minor is compatible.
# (The plugin ABI has its own version, GDN_ABI_MAJOR/MINOR in gdn/plugin.h.)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/gdnConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)

install(FILES
    ${PROJECT_BINARY_DIR}/cmake/gdnConfig.cmake
    ${PROJECT_BINARY_DIR}/cmake/gdnConfigVersion.cmake
    ${CMAKE_CURRENT_LIST_DIR}/GdnPlugin.cmake
    ${CMAKE_CURRENT_LIST_DIR}/plugin.map
  DESTINATION ${GDN_INSTALL_CMAKEDIR})

# pkg-config: prefix found relative to the .pc file itself (<libdir>/pkgconfig).
file(RELATIVE_PATH GDN_PC_PREFIX_FROM_PCDIR /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" GDN_PC_PREFIX_FROM_PCDIR "${GDN_PC_PREFIX_FROM_PCDIR}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/gdn.pc.in ${PROJECT_BINARY_DIR}/cmake/gdn.pc @ONLY)
# gdn-testing.pc: the testing library (reference, harness, golden files) on top of gdn.pc.
configure_file(${CMAKE_CURRENT_LIST_DIR}/gdn-testing.pc.in ${PROJECT_BINARY_DIR}/cmake/gdn-testing.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmake/gdn.pc ${PROJECT_BINARY_DIR}/cmake/gdn-testing.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
