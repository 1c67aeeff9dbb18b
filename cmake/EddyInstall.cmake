# SPDX-License-Identifier: Apache-2.0
# `cmake --install BUILD --prefix PREFIX` installs what a plugin author needs:
#   bin/eddy
#   lib/libeddy_sdk.so.<abi>                 the SDK library
#   include/eddy/*.h                         the public SDK headers
#   lib/cmake/Eddy/                          find_package(Eddy): Eddy::sdk, eddy_add_plugin()
#   lib/eddy/plugins/                        the example plugins
include(CMakePackageConfigHelpers)

install(TARGETS eddy RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS eddy_sdk EXPORT EddySdkTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/engine/include/eddy
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")

set(eddy_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/Eddy)
install(EXPORT EddySdkTargets NAMESPACE Eddy:: DESTINATION ${eddy_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/EddyConfig.cmake.in
  ${PROJECT_BINARY_DIR}/EddyConfig.cmake
  INSTALL_DESTINATION ${eddy_cmake_dir}
  PATH_VARS CMAKE_INSTALL_BINDIR)
# 0.x: a minor release may change the SDK, so only the same minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/EddyConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/EddyConfig.cmake
  ${PROJECT_BINARY_DIR}/EddyConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/EddyPlugin.cmake
  ${PROJECT_SOURCE_DIR}/cmake/EddyRunTopologyTest.cmake
  DESTINATION ${eddy_cmake_dir})
