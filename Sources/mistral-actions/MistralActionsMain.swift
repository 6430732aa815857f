import ArgumentParser
import MistralActionsCLI

@main
enum MistralActionsMain {
    static func main() async {
        await MistralActionsCommand.main(nil)
    }
}
