# install() + an exported vlgraphConfig.cmake, so an outside project can use
#   find_package(vlgraph CONFIG REQUIRED)  ->  vlgraph::vlgraph, vlgraph::cuda
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(DIRECTORY include/vlgraph DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY backends models DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/vlgraph
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.cuh")
install(TARGETS vlgraph vlgraph_cuda EXPORT vlgraphTargets)
install(EXPORT vlgraphTargets NAMESPACE vlgraph:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vlgraph)
configure_package_config_file(cmake/vlgraphConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/vlgraphConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vlgraph)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/vlgraphConfigVersion.cmake COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vlgraphConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/vlgraphConfigVersion.cmake
              cmake/vlgraphDependencies.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vlgraph)
