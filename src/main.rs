fn main() {
    std::process::exit(maildedup::cli::run());
}
